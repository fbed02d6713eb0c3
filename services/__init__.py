"""The four eyhub services, each with its own database and worker."""
