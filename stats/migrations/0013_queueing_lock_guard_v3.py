from django.db import migrations

from stats.sql import load_sql


class Migration(migrations.Migration):
    """The queueing-lock guard, third version: a key per queueing lock (no false sharing), a
    bounded number of keys per transaction, no deadlock between a batch defer and a bulk
    requeue, a 'cancelled' event for a superseded job. 0007's own reverse script removes its
    guard here, and its own script restores it on the way back."""

    dependencies = [("stats", "0011_view_refresh_plural")]

    operations = [
        migrations.RunSQL(
            [
                load_sql("migrations/0007_queueing_lock_guard_v2.reverse.sql"),
                load_sql("migrations/0013_queueing_lock_guard_v3.sql"),
            ],
            reverse_sql=[
                load_sql("migrations/0013_queueing_lock_guard_v3.reverse.sql"),
                load_sql("migrations/0007_queueing_lock_guard_v2.sql"),
            ],
        ),
    ]
