from django.db import migrations

from stats.sql import load_sql


class Migration(migrations.Migration):
    """The queueing-lock guard, second version: bounded advisory locks, no column pinned by a
    trigger, manual retries covered, superseded jobs settled 'cancelled'. 0004 stays as it was
    applied; its own reverse script removes it here, and its own script restores it on the way
    back."""

    dependencies = [("stats", "0006_board_positions")]

    operations = [
        migrations.RunSQL(
            [
                load_sql("migrations/0004_queueing_lock_guard.reverse.sql"),
                load_sql("migrations/0007_queueing_lock_guard_v2.sql"),
            ],
            reverse_sql=[
                load_sql("migrations/0007_queueing_lock_guard_v2.reverse.sql"),
                load_sql("migrations/0004_queueing_lock_guard.sql"),
            ],
        ),
    ]
