from django.db import migrations

from stats.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [("stats", "0002_prediction_points")]

    operations = [
        migrations.RunSQL(
            load_sql("migrations/0003_stats_views.sql"),
            reverse_sql=load_sql("migrations/0003_stats_views.reverse.sql"),
        ),
    ]
