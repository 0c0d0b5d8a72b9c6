"""Known fake (impersonating) accounts, recorded once and linked to every case that meets them."""
