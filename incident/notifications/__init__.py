"""In-app notifications, e-mail preferences and the mail outbox delivered by the worker."""
