"""Running untrusted student code: a fork server, the child it forks, and the channel to it."""
