from django.db import migrations

from stats.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [("stats", "0019_close_at_kickoff_columns")]

    operations = [
        migrations.RunSQL(
            load_sql("migrations/0020_change_log_without_lateral.sql"),
            reverse_sql=load_sql("migrations/0020_change_log_without_lateral.reverse.sql"),
        ),
    ]
