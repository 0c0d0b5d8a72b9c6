"""Configuration defaults, and the order in which they are overridden."""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

#: "development" or "production"; production refuses to start without a real secret key.
ENV = "development"
#: Set from instance/secret_key in development, from INCIDENT_SECRET_KEY in production.
SECRET_KEY: str | None = None
#: None means the SQLite file instance/incident.sqlite3.
SQLALCHEMY_DATABASE_URI: str | None = None
SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
#: Seconds a SQLite connection waits for a lock before giving up.
SQLITE_BUSY_TIMEOUT = 15
BABEL_DEFAULT_LOCALE = "ja"
BABEL_DEFAULT_TIMEZONE = "Asia/Tokyo"
LANGUAGES = ["ja", "en"]
DISPLAY_TIMEZONE = "Asia/Tokyo"
#: Rows per page on every list; clients may ask for up to MAX_PER_PAGE.
PER_PAGE = 25
MAX_PER_PAGE = 100
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
REMEMBER_COOKIE_HTTPONLY = True
REMEMBER_COOKIE_SAMESITE = "Lax"
#: Cookies only over HTTPS. None means: on in production, off in development (plain http://127.0.0.1).
SESSION_COOKIE_SECURE: bool | None = None
REMEMBER_COOKIE_SECURE: bool | None = None
#: A signed-in session ends after this many minutes without a request (idle timeout) ...
SESSION_IDLE_MINUTES = 30
#: ... and this many hours after login whatever the activity (absolute timeout); "remember me" too.
SESSION_MAX_HOURS = 12
#: Strict-Transport-Security max-age (seconds) sent on HTTPS responses; 0 sends none.
HSTS_MAX_AGE = 365 * 24 * 3600
#: Behind a reverse proxy (nginx, IIS ARR, a load balancer): how many proxies set X-Forwarded-For /
#: -Proto / -Host / -Port / -Prefix. 0 (the default) trusts none of these headers: set it only when
#: every request comes through that many proxies, or clients could claim any address or scheme.
PROXY_FIX = 0
WTF_CSRF_TIME_LIMIT = None
#: Login throttling, counted per account and per client address in the database (so across workers):
#: failures count since the last success, and are forgotten once this many minutes pass without another.
LOGIN_WINDOW_MINUTES = 60
#: After this many failures each further attempt waits 1, 2, 4 … seconds after the last failure …
LOGIN_DELAY_AFTER = 5
#: … at most this long.
LOGIN_DELAY_MAX_SECONDS = 15 * 60
#: After this many failures an account is locked (even the right password is refused) …
LOGIN_LOCK_AFTER = 20
#: … for this long, or until the PR office unlocks it (/admin/logins, `flask user unlock`).
LOGIN_LOCK_MINUTES = 60
#: Multi-factor authentication (TOTP): the roles that must use it, when MFA_REQUIRED is on. None (the
#: default) means on in production, off in development; until they set it up, those users see only the
#: set-up page and the API answers 403.
MFA_REQUIRED: bool | None = None
MFA_REQUIRED_ROLES = ["supervisor", "admin"]
#: The issuer an authenticator app shows next to the user's e-mail address.
MFA_ISSUER = "石巻市 SNS インシデント"
#: Days a new API token lasts unless its creator chooses otherwise (issue 13) …
API_TOKEN_DAYS = 90
#: … and the longest expiry that may be chosen.
API_TOKEN_MAX_DAYS = 365
#: Hours a password-reset link from the PR office stays valid (it also stops working once used).
PASSWORD_RESET_HOURS = 24
MAX_CONTENT_LENGTH = 16 * 1024 * 1024
#: The largest evidence file (screenshot or PDF) accepted; larger uploads get 413.
EVIDENCE_MAX_BYTES = 10 * 1024 * 1024
#: The most pixels (width × height, read from the header) an evidence image may have; larger ones
#: (decompression bombs) get 422. Pillow's own bomb check (about 179 million pixels) refuses beyond it.
EVIDENCE_MAX_PIXELS = 50_000_000
#: Where evidence files are stored under server-made names; None means <instance>/uploads.
UPLOAD_DIR: str | None = None
#: The playbook files (one per incident kind); validated at start-up.
PLAYBOOK_DIR = str(Path(__file__).resolve().parent.parent / "playbooks")
#: Web domains of the city: a false-information correction must link to a page on one of them.
CITY_WEB_DOMAINS = ["city.ishinomaki.lg.jp"]
#: Days after which an official account's operation policy (様式1) counts as not reviewed (a registry warning).
ACCOUNT_POLICY_REVIEW_DAYS = 365
#: Shown in the page header and on printed documents.
CITY_NAME = "石巻市"
CITY_NAME_EN = "Ishinomaki City"
#: Guideline 5(1)ア: a post the city commissions starts its hashtags with one of these relationship tags,
#: then PR_CITY_TAG (INCIDENT_PR_RELATIONSHIP_TAGS takes a JSON list, like INCIDENT_CITY_WEB_DOMAINS).
PR_RELATIONSHIP_TAGS = ["#プロモーション", "#PR", "#宣伝", "#広告"]
PR_CITY_TAG = "#石巻市"
#: The address people open the app at; links in e-mail start with it.
BASE_URL = "http://127.0.0.1:5000"
#: Outgoing mail (SMTP). Without MAIL_HOST mail waits in the outbox (the PR office sees it).
MAIL_HOST: str | None = None
MAIL_PORT = 25
#: none, starttls or ssl.
MAIL_SECURITY = "none"
MAIL_USERNAME: str | None = None
MAIL_PASSWORD: str | None = None
MAIL_FROM = "incident@city.ishinomaki.lg.jp"
MAIL_TIMEOUT = 10
#: Attempts before a mail is marked failed (retries wait 1, 2, 4 … up to 60 minutes).
MAIL_MAX_ATTEMPTS = 10
#: Chat notifications (README, "Chat"): seconds to wait for a chat service, and attempts before giving up
#: (retries wait as mail's do).
CHAT_TIMEOUT = 10
CHAT_MAX_ATTEMPTS = 10
#: Development and tests only: also accept http:// addresses on 127.0.0.1 (real ones must be https).
CHAT_ALLOW_LOOPBACK = False
#: LINE WORKS (Bot API 2.0): the city's bot and the app's Developer Console credentials; a service account
#: signs in with its private key (PEM text; INCIDENT_LINEWORKS_PRIVATE_KEY keeps it out of files).
LINEWORKS_BOT_ID: str | None = None
LINEWORKS_CLIENT_ID: str | None = None
LINEWORKS_CLIENT_SECRET: str | None = None
LINEWORKS_SERVICE_ACCOUNT: str | None = None
LINEWORKS_PRIVATE_KEY: str | None = None
LINEWORKS_AUTH_URL = "https://auth.worksmobile.com/oauth2/v2.0/token"
LINEWORKS_API_URL = "https://www.worksapis.com/v1.0"
#: Retention of a closed case's record (公文書の保存期間): the classes offered, in years ("permanent": kept
#: for good), and each kind's class when the case closes. Set both from the city's 文書管理規程
#: (INCIDENT_RETENTION_CLASSES / INCIDENT_RETENTION_DEFAULTS take JSON).
RETENTION_CLASSES = ["1", "3", "5", "10", "permanent"]
RETENTION_DEFAULTS = {"flaming": "5", "impersonation": "5", "false_information": "5", "account_takeover": "10",
                      "dormant_account": "3"}
#: Days every city office is closed each year besides Japan's public holidays and weekends (市の休日, the
#: year-end closure), as "MM-DD"; working hours and low-severity escalation timers skip them
#: (INCIDENT_CITY_CLOSED_DAYS takes a JSON list).
CITY_CLOSED_DAYS = ["12-29", "12-30", "12-31", "01-01", "01-02", "01-03"]
#: The grounds on which a passage of a case's record may be withheld from a disclosure request (情報公開),
#: as the city's 情報公開条例 lists its non-disclosure information; set them to the ordinance's own wording
#: with article numbers (INCIDENT_DISCLOSURE_GROUNDS takes a JSON list). Each mask records the text chosen.
DISCLOSURE_GROUNDS = [
    "個人に関する情報（特定の個人を識別できるもの）",
    "法人等に関する情報（公にすると正当な利益を害するおそれがあるもの）",
    "公共の安全と秩序の維持に支障を及ぼすおそれがある情報",
    "審議・検討等に関する情報",
    "事務・事業の適正な遂行に支障を及ぼすおそれがある情報",
    "法令等の規定により公にできない情報",
]
#: Seconds between the worker's rounds (escalation sweep and mail delivery).
WORKER_INTERVAL = 60
#: Single sign-on with OpenID Connect (README, "Single sign-on"): the identity provider's issuer URL, e.g.
#: https://login.microsoftonline.com/<tenant id>/v2.0; None switches single sign-on off. Read at start-up.
OIDC_ISSUER: str | None = None
#: The app's registration at the identity provider (INCIDENT_OIDC_CLIENT_SECRET keeps the secret out of files).
OIDC_CLIENT_ID: str | None = None
OIDC_CLIENT_SECRET: str | None = None
OIDC_SCOPES = "openid email profile"
#: The text of the login page's single sign-on button; None means 「シングルサインオンでログイン」.
OIDC_BUTTON_LABEL: str | None = None
#: The ID token claim holding the e-mail address users are matched by (Entra ID may need
#: "preferred_username" or "upn"); once matched, a user is found by the provider's subject ("sub").
OIDC_EMAIL_CLAIM = "email"
#: A person the app does not know: "refuse", or "pending" (an inactive user is made for the PR office to approve).
OIDC_UNKNOWN_USERS = "refuse"
#: The department code pending users are put in; None means the PR office's (the department of its first admin).
OIDC_PENDING_DEPARTMENT: str | None = None
#: Seconds to wait for the identity provider (discovery, keys, the token exchange).
OIDC_TIMEOUT = 10
#: False hides the password form and refuses password logins (single sign-on only; the CLI still works).
PASSWORD_LOGIN = True

_PRODUCTION_SECRET_HELP = (
    "INCIDENT_ENV=production needs a real secret key: set INCIDENT_SECRET_KEY to a long random "
    "string (for example the output of `python -c 'import secrets; print(secrets.token_hex(32))'`)."
)


class ConfigurationError(RuntimeError):
    """The configuration cannot run the application safely."""


def load(app: Flask, test_config: Mapping[str, Any] | None) -> None:
    """Apply defaults, instance/config.py, INCIDENT_* variables and DATABASE_URL, in that order."""
    app.config.from_object(__name__)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("INCIDENT")
        if os.environ.get("DATABASE_URL"):
            app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    else:
        app.config.update(test_config)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        db_file = Path(app.instance_path) / "incident.sqlite3"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_file}"
    _ensure_secret_key(app)
    production = app.config["ENV"] == "production"
    if production:
        app.config["DEBUG"] = False
    if app.config.get("MFA_REQUIRED") is None:
        app.config["MFA_REQUIRED"] = production
    for name in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if app.config.get(name) is None:
            app.config[name] = production


def _ensure_secret_key(app: Flask) -> None:
    """Refuse production without a key; in development keep a generated key in instance/."""
    if app.config["SECRET_KEY"]:
        return
    if app.config["ENV"] == "production":
        raise ConfigurationError(_PRODUCTION_SECRET_HELP)
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32), encoding="ascii")
        key_file.chmod(0o600)
    app.config["SECRET_KEY"] = key_file.read_text(encoding="ascii").strip()
