"""One measured run: subscribers up, writes sent, every message timed, the servers' CPU from /proc."""
