"""Train the tiny experiment and SIGKILL the process right after global step KILL_AT (a mid-epoch
checkpoint exists by then): the hard interruption that ``deepsphere train --resume`` must survive.

Usage: python kill_driver.py KILL_AT OVERRIDE...   (run in the run's working folder)
"""

import os
import signal
import sys

import lightning as L

from deepsphere.tasks import load_config, train


class KillAt(L.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, module, outputs, batch, idx) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    train(load_config("cosmo", sys.argv[2:]), callbacks=[KillAt(int(sys.argv[1]))])
