"""Comparing two trees: rsync's differ and its record, the log read back, and the
independent equality check (``verify``)."""
