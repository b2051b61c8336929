"""The worker role: two django-q2 clusters (`manage.py qcluster`), whose every process dies with its parent.

`python -m config.worker` is what `config/run.py` starts for the `all` and `worker` roles. It runs the main
cluster (deployments, Geti imports: MODELHUB_WORKERS workers) and starts a second `config.worker` for the
download queue (settings.DOWNLOAD_QUEUE, MODELHUB_DOWNLOAD_WORKERS workers), so URL downloads, however slow
their sources, never hold the workers that deployments need. The sentinel, the task workers, the monitor and
the pusher are forked by each cluster; each gets SIGTERM when the process that forked it dies (see
config/processes.py), so a SIGKILLed worker takes its whole tree, the download cluster included, with it.
"""

import os
import signal
import subprocess
import sys

from config.processes import child_preexec, die_with_parent_after_fork

DOWNLOADS = "--downloads"  # this process runs the download queue's cluster


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    die_with_parent_after_fork(signal.SIGTERM)
    from django.conf import settings
    from django.core.management import execute_from_command_line

    if DOWNLOADS in sys.argv[1:]:
        # django-q2 reads the cluster (queue) name from its environment variable when its apps load, below.
        os.environ["Q_CLUSTER_NAME"] = settings.DOWNLOAD_QUEUE
    else:
        subprocess.Popen(  # stopped by the kernel's SIGTERM when this process ends (child_preexec)
            [sys.executable, "-m", "config.worker", DOWNLOADS], preexec_fn=child_preexec()
        )
    execute_from_command_line([sys.argv[0], "qcluster"])


if __name__ == "__main__":
    main()
