"""The worker role: django-q2's cluster (`manage.py qcluster`), whose every process dies with its parent.

`python -m config.worker` is what `config/run.py` starts for the `all` and `worker` roles. The sentinel,
the task workers, the monitor and the pusher are forked by the cluster; each gets SIGTERM when the process
that forked it dies (see config/processes.py), so a SIGKILLed cluster takes its whole tree with it.
"""

import os
import signal
import sys

from config.processes import die_with_parent_after_fork


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    die_with_parent_after_fork(signal.SIGTERM)
    from django.core.management import execute_from_command_line

    execute_from_command_line([sys.argv[0], "qcluster"])


if __name__ == "__main__":
    main()
