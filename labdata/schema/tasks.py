"""Behavioural tasks: a task-agnostic summary of decision-making sessions.

The module mirrors the original ``labdata/schema/tasks.py``. The seed guide
calls the table "DecisionMaking" in prose; the table is :class:`DecisionTask`.
It lives in the project computed schema (``@computed``) and is filled by
plugins.
"""

from __future__ import annotations

from labdata.catalog import Imported, Part
from labdata.schema._registry import computed

__all__ = ["DecisionTask"]


@computed
class DecisionTask(Imported):
    """Summary of a decision-making behaviour session."""

    definition = """
    -> Dataset
    ---
    n_total_trials : int
    n_total_assisted = NULL : int
    n_total_performed = NULL : int
    n_total_initiated = NULL : int
    n_total_with_choice = NULL : int
    n_total_rewarded = NULL : int
    n_total_punished = NULL : int
    -> [nullable] Watering
    """

    class TrialSet(Part):
        """Trials of one condition or modality (e.g. visual)."""

        definition = """
        -> master
        trialset_description : varchar(54)
        ---
        n_trials : int
        n_performed : int
        n_with_choice : int
        n_correct : int
        performance_easy = NULL : float
        performance = NULL : float
        trial_num : longblob
        initiation_times = NULL : longblob
        assisted = NULL : longblob
        response_values = NULL : longblob   # left 1, none 0, right -1
        correct_values = NULL : longblob    # 1, 0 or NaN
        intensity_values = NULL : longblob
        reaction_times = NULL : longblob
        block_values = NULL : longblob
        """
