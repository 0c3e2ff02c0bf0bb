# Boot only: KUnit runs during boot; its results are in the kernel log.
result uname "$(uname -r)"
