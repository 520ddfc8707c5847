"""Load generation: the worker processes that open the subscribers and time what they receive, and the
minimal clients they use."""
