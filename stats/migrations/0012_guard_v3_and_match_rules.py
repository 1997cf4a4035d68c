import datetime

from django.db import migrations, models

from stats.sql import load_sql


class Migration(migrations.Migration):
    """The queueing-lock guard, third version: a key per queueing lock (no false sharing), a
    bounded number of keys per transaction, no deadlock between a batch defer and a bulk
    requeue, a 'cancelled' event for a superseded job. 0007's own reverse script removes its
    guard here, and its own script restores it on the way back.

    And the match's rules in words a person reads (the admin shows a constraint's message), with
    kickoffs kept within what Python can read back; a match stored outside stops the migration
    with its id, to be corrected by hand first."""

    dependencies = [("stats", "0011_view_refresh_plural")]

    operations = [
        migrations.RunSQL(
            [
                load_sql("migrations/0007_queueing_lock_guard_v2.reverse.sql"),
                load_sql("migrations/0012_queueing_lock_guard_v3.sql"),
            ],
            reverse_sql=[
                load_sql("migrations/0012_queueing_lock_guard_v3.reverse.sql"),
                load_sql("migrations/0007_queueing_lock_guard_v2.sql"),
            ],
        ),
        migrations.RunSQL(
            load_sql("migrations/0012_unreadable_kickoffs.sql"), reverse_sql=migrations.RunSQL.noop
        ),
        migrations.AddConstraint(
            model_name="match",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "kickoff_at__gte",
                        datetime.datetime(2, 1, 1, 0, 0, tzinfo=datetime.UTC),
                    ),
                    (
                        "kickoff_at__lt",
                        datetime.datetime(9999, 1, 1, 0, 0, tzinfo=datetime.UTC),
                    ),
                ),
                name="stats_match_kickoff_readable",
                violation_error_message="The kickoff must fall between the years 2 and 9998.",
            ),
        ),
        migrations.AlterConstraint(
            model_name="match",
            name="stats_match_teams_differ",
            constraint=models.CheckConstraint(
                condition=models.Q(("home_team", models.F("away_team")), _negated=True),
                name="stats_match_teams_differ",
                violation_error_message="A team cannot play itself: choose two different teams.",
            ),
        ),
        migrations.AlterConstraint(
            model_name="match",
            name="stats_match_round_positive",
            constraint=models.CheckConstraint(
                condition=models.Q(("round__gte", 1)),
                name="stats_match_round_positive",
                violation_error_message="The round is the matchday, from 1.",
            ),
        ),
        migrations.AlterConstraint(
            model_name="match",
            name="stats_match_scores_set_together",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("away_score__isnull", True), ("home_score__isnull", True)),
                    models.Q(("away_score__isnull", False), ("home_score__isnull", False)),
                    _connector="OR",
                ),
                name="stats_match_scores_set_together",
                violation_error_message="Give both scores, or neither.",
            ),
        ),
        migrations.AlterConstraint(
            model_name="match",
            name="stats_match_completed_has_score",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "completed"), _negated=True),
                    models.Q(("away_score__isnull", False), ("home_score__isnull", False)),
                    _connector="OR",
                ),
                name="stats_match_completed_has_score",
                violation_error_message="A completed match needs its final score, home and away.",
            ),
        ),
    ]
