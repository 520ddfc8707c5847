"""Wire protocols over the subscription core: each a folder of constants, typed messages and handlers."""
