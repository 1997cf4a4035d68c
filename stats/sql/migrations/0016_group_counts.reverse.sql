DROP TRIGGER stats_group_member_joined ON stats_groupmembership;
DROP TRIGGER stats_group_member_left ON stats_groupmembership;
DROP FUNCTION stats_group_membership_changed();
DROP FUNCTION stats_group_counts_build(bigint);
DROP FUNCTION stats_group_counts_drop(bigint);
DROP FUNCTION stats_group_counts_move(bigint[], integer[], integer);
DROP TABLE stats_group_overall_member, stats_group_competition_member,
    stats_group_overall_count, stats_group_competition_count,
    stats_group_overall_previous_count, stats_group_competition_previous_count;
