from django.db import migrations

from stats.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [("stats", "0016_group_counts")]

    operations = [
        migrations.RunSQL(
            load_sql("migrations/0017_change_log_plans.sql"),
            reverse_sql=load_sql("migrations/0017_change_log_plans.reverse.sql"),
        ),
    ]
