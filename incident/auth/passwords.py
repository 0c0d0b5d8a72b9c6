"""The password rule: one function that every way of setting a password goes through (creating a user,
changing one's own, a temporary password), and the temporary passwords the PR office issues.

The common passwords refused are the 30,000 of `common_passwords.txt`, one a line, most common first: the
"passwords" frequency list shipped by the PyPI package zxcvbn 4.5.0 (zxcvbn-python, MIT licence, copyright
2016 Daniel Wolf; the list is Dropbox's zxcvbn list, drawn from Mark Burnett's 10 million password corpus),
copied as it is (already lower-case; licence in common_passwords.LICENSE). No network look-up is made.
The list is read once, on first use."""
from __future__ import annotations

import functools
import secrets
from pathlib import Path

from flask_babel import lazy_gettext as _l

from incident.errors import ValidationFailed

#: The shortest password accepted (issue 13).
MIN_PASSWORD_LENGTH = 12
#: The longest: hashing is deliberately slow, so an unbounded password would be a way to load the server.
MAX_PASSWORD_LENGTH = 200
#: The file of common passwords, next to this module.
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
#: Temporary passwords: 16 characters without look-alikes (0/O, 1/l/I), read aloud or copied by hand.
TEMPORARY_PASSWORD_LENGTH = 16
_TEMPORARY_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The common passwords, lower-cased (loaded once per process)."""
    with COMMON_PASSWORDS_FILE.open(encoding="utf-8") as lines:
        return frozenset(line.strip().lower() for line in lines if line.strip())


def password_problem(password: str, email: str = "") -> object | None:
    """Why this password may not be used (a message), or None when it may: at least MIN_PASSWORD_LENGTH
    characters (and at most MAX_PASSWORD_LENGTH), not the user's e-mail address or the part before its "@",
    not one of the common passwords; the last two compared case-insensitively."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        return _l("パスワードは %(n)d 文字以上にしてください。", n=MIN_PASSWORD_LENGTH)
    if len(password) > MAX_PASSWORD_LENGTH or "\x00" in password:
        return _l("パスワードは %(n)d 文字以内にしてください。", n=MAX_PASSWORD_LENGTH)
    folded = password.strip().casefold()
    address = (email or "").strip().casefold()
    if address and folded in {address, address.partition("@")[0]}:
        return _l("メールアドレスをパスワードにすることはできません。")
    if folded in common_passwords() or password.casefold() in common_passwords():
        return _l("よく使われていて推測されやすいパスワードです。別のパスワードにしてください。")
    return None


def check_password_rule(password: str, email: str = "", field: str = "password") -> None:
    """Refuse a password that breaks the rule (password_problem), with its message on the form's `field`."""
    problem = password_problem(password, email)
    if problem is not None:
        raise ValidationFailed(problem, fields={field: problem})


def temporary_password() -> str:
    """A random password the PR office hands to a user, who must change it at the next login."""
    while True:
        candidate = "".join(secrets.choice(_TEMPORARY_ALPHABET) for _ in range(TEMPORARY_PASSWORD_LENGTH))
        if password_problem(candidate) is None:
            return candidate
