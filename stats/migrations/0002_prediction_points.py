from django.db import migrations

from stats.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [("stats", "0001_initial")]

    operations = [
        migrations.RunSQL(
            load_sql("migrations/0002_prediction_points.sql"),
            reverse_sql=load_sql("migrations/0002_prediction_points.reverse.sql"),
        ),
    ]
