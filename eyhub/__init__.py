"""The launcher: composes the kernel (``shared/``) with the gateway and the services.

It depends on everything and nothing depends on it: the ``eyhub`` command
(``eyhub.cli``), the process supervisor of ``eyhub up``, gunicorn serving, the demo
data and the list of components with their apps, handlers, jobs and migrations
(``eyhub.components``). The kernel only ever receives these as arguments.
"""
