from django.db import migrations

from stats.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [("stats", "0017_change_log_plans")]

    operations = [
        migrations.RunSQL(
            load_sql("migrations/0018_rank_views_in_key_order.sql"),
            reverse_sql=load_sql("migrations/0018_rank_views_in_key_order.reverse.sql"),
        ),
    ]
