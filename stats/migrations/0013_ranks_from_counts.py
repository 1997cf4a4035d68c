from django.conf import settings
from django.db import migrations, models

from stats.sql import load_sql


def _reference(to: str) -> models.ForeignKey:  # type: ignore[type-arg]
    return models.ForeignKey(
        db_constraint=False, on_delete=models.deletion.DO_NOTHING, related_name="+", to=to
    )


_TOTALS: list[tuple[str, models.Field]] = [  # type: ignore[type-arg]
    ("total_points", models.IntegerField()),
    ("predictions_scored", models.IntegerField()),
    ("exact_scores", models.IntegerField()),
    ("correct_outcomes", models.IntegerField()),
]


class Migration(migrations.Migration):
    dependencies = [
        ("stats", "0012_guard_v3_and_match_rules"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    load_sql("migrations/0013_ranks_from_counts.sql"),
                    # Back to 0011 with the files that built it: 0003's and 0006's views, which
                    # 0009's file replaces by its relations, filled from the predictions.
                    reverse_sql=[
                        load_sql("migrations/0013_ranks_from_counts.reverse.sql"),
                        load_sql("migrations/0003_stats_views.sql"),
                        load_sql("migrations/0006_board_positions.sql"),
                        load_sql("migrations/0009_incremental_stats.sql"),
                    ],
                ),
            ],
            state_operations=[
                migrations.DeleteModel(name="LeaderboardEntry"),
                migrations.DeleteModel(name="CompetitionStanding"),
                migrations.DeleteModel(name="RoundStanding"),
                migrations.CreateModel(
                    name="UserTotal",
                    fields=[
                        *_TOTALS,
                        (
                            "user",
                            models.OneToOneField(
                                db_constraint=False,
                                on_delete=models.deletion.DO_NOTHING,
                                primary_key=True,
                                related_name="+",
                                serialize=False,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "stats_user_total",
                        "ordering": ("-total_points", "-exact_scores", "user_id"),
                        "abstract": False,
                        "managed": False,
                    },
                ),
                migrations.CreateModel(
                    name="RoundTotal",
                    fields=[
                        *_TOTALS,
                        ("id", models.CharField(max_length=48, primary_key=True, serialize=False)),
                        ("round", models.IntegerField()),
                        ("competition", _reference("stats.competition")),
                        ("user", _reference(settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "stats_round_total",
                        "ordering": (
                            "competition_id",
                            "round",
                            "-total_points",
                            "-exact_scores",
                            "user_id",
                        ),
                        "abstract": False,
                        "managed": False,
                    },
                ),
                migrations.AlterModelOptions(
                    name="competitiontotal",
                    options={
                        "managed": False,
                        "ordering": ("competition_id", "-total_points", "-exact_scores", "user_id"),
                    },
                ),
                *(
                    migrations.AddField(
                        model_name="matchsummary",
                        name=name,
                        field=models.IntegerField(default=0),
                        preserve_default=False,
                    )
                    for name in ("points_total", "points_counted")
                ),
            ],
        ),
    ]
