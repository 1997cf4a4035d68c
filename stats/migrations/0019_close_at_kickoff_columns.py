from django.db import migrations

from stats.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [("stats", "0018_rank_views_in_key_order")]

    operations = [
        migrations.RunSQL(
            load_sql("migrations/0019_close_at_kickoff_columns.sql"),
            reverse_sql=load_sql("migrations/0019_close_at_kickoff_columns.reverse.sql"),
        ),
    ]
