from django.db import migrations, models

from stats.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [("stats", "0005_job_error")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    load_sql("migrations/0006_board_positions.sql"),
                    # Back to 0003's boards with 0003's own files: drop its four views and
                    # build them again (the match summary, which 0006 leaves alone, comes back
                    # the same).
                    reverse_sql=[
                        load_sql("migrations/0003_stats_views.reverse.sql"),
                        load_sql("migrations/0003_stats_views.sql"),
                    ],
                ),
            ],
            state_operations=[
                migrations.AddField(
                    model_name=model_name,
                    name="position",
                    field=models.IntegerField(
                        default=0, help_text="1, 2, 3, ... in rank order, ties by user id."
                    ),
                    preserve_default=False,
                )
                for model_name in ("leaderboardentry", "competitionstanding", "roundstanding")
            ]
            + [
                migrations.AlterModelOptions(
                    name="leaderboardentry",
                    options={
                        "managed": False,
                        "ordering": ("position",),
                        "verbose_name_plural": "leaderboard",
                    },
                ),
                migrations.AlterModelOptions(
                    name="competitionstanding",
                    options={"managed": False, "ordering": ("competition_id", "position")},
                ),
                migrations.AlterModelOptions(
                    name="roundstanding",
                    options={"managed": False, "ordering": ("competition_id", "round", "position")},
                ),
            ],
        ),
    ]
