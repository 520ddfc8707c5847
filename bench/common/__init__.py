"""What every benchmark process shares: this machine (the one host, /proc accounting, limits) and how the
servers under test are used."""
