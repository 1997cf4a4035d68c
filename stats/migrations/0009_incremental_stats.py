from django.conf import settings
from django.db import migrations, models

from stats.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [
        ("stats", "0008_predictions_close_at_kickoff"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    load_sql("migrations/0009_incremental_stats.sql"),
                    reverse_sql=load_sql("migrations/0009_incremental_stats.reverse.sql"),
                ),
            ],
            state_operations=[
                *(
                    migrations.AddField(
                        model_name="roundstanding",
                        name=name,
                        field=models.IntegerField(default=0),
                        preserve_default=False,
                    )
                    for name in ("predictions_scored", "correct_outcomes")
                ),
                migrations.CreateModel(
                    name="CompetitionTotal",
                    fields=[
                        ("id", models.CharField(max_length=41, primary_key=True, serialize=False)),
                        ("total_points", models.IntegerField()),
                        ("predictions_scored", models.IntegerField()),
                        ("exact_scores", models.IntegerField()),
                        ("correct_outcomes", models.IntegerField()),
                        (
                            "competition",
                            models.ForeignKey(
                                db_constraint=False,
                                on_delete=models.deletion.DO_NOTHING,
                                related_name="+",
                                to="stats.competition",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                db_constraint=False,
                                on_delete=models.deletion.DO_NOTHING,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "stats_competition_total",
                        "ordering": ("competition_id", "user_id"),
                        "managed": False,
                        "abstract": False,
                    },
                ),
            ],
        ),
    ]
