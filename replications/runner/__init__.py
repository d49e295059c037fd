"""The runner: everything ``python -m replications`` does around the chapter notebooks, in the order of a run.

- :mod:`~replications.runner.cli`: the command line (``list``, ``run``, ``sweep``, ``report``, ``refresh``).
- :mod:`~replications.runner.run` and :mod:`~replications.runner.sweep`: the two plans, one seed per chapter or
  chapters × seeds; each plans its cells, hands them to the executor and ends with its own table. Neither imports
  the other.
- :mod:`~replications.runner.chapters`: the book's chapters and their notebooks; a request checked before any runs.
- :mod:`~replications.runner.plan`: the cells (chapter × seed under a profile) and their tasks, and the order they
  start in, the costliest first.
- :mod:`~replications.runner.cluster`: where the cells run when not in this process: a Dask ``LocalCluster`` that
  never oversubscribes the cores, or an existing scheduler.
- :mod:`~replications.runner.executor`: runs the tasks, in process one after another or on a cluster; retries,
  one progress line and one result line per task.
- :mod:`~replications.runner.task`: one task where it runs: its torch threads, its log, its run-folder markers.
- :mod:`~replications.runner.notebook`: one notebook executed with papermill; its metrics.json read back.
- :mod:`~replications.runner.kernel` and :mod:`~replications.runner.ipc_kernel`: the notebook's kernel, over IPC
  sockets in a private folder, with no TCP port.
- :mod:`~replications.runner.report`: metrics.json files read and gathered into the text scoreboard.
- :mod:`~replications.runner.across_seeds`: a sweep's statistics per claim, and their committed copies.
- :mod:`~replications.runner.scoreboard_page`, :mod:`~replications.runner.claims_spec`,
  :mod:`~replications.runner.talk_checks`: the book's generated pages (results, claims, talk).
- :mod:`~replications.runner.refresh`: committed notebooks re-executed in place, their expected results recorded.

Imports run one way, with no circle (``tests/test_architecture.py`` searches the import graph for one), and reach
outside the package only to ``scorelib``, :mod:`replications` itself (``ROOT``, ``CHAPTER_ORDER``) and the
chapters' side of the interface (:mod:`replications.chapter`, :mod:`replications.parameters`,
:mod:`replications.sweep_summary`), which is below the runner: no chapter imports anything here.
"""
