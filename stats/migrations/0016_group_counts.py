from django.db import migrations, models

from stats.sql import load_sql


class Migration(migrations.Migration):
    dependencies = [("stats", "0015_previous_ranks")]

    operations = [
        migrations.AddField(
            model_name="playergroup",
            name="counts_kept",
            field=models.BooleanField(db_default=False, default=False, editable=False),
        ),
        migrations.RunSQL(
            load_sql("migrations/0016_group_counts.sql"),
            reverse_sql=load_sql("migrations/0016_group_counts.reverse.sql"),
        ),
    ]
