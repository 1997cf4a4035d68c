from django.db import migrations, models

from stats.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [("stats", "0007_queueing_lock_guard_v2")]

    operations = [
        migrations.RunSQL(
            load_sql("migrations/0008_predictions_close_at_kickoff.sql"),
            reverse_sql=load_sql("migrations/0008_predictions_close_at_kickoff.reverse.sql"),
        ),
        migrations.AddIndex(
            model_name="prediction",
            index=models.Index(
                condition=models.Q(("points__isnull", True)),
                fields=["match"],
                name="stats_prediction_unscored_idx",
            ),
        ),
    ]
