"""The audit log: one append-only row for every change, with who, when and a request id."""
