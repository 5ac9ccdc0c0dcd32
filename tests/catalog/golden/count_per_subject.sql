SELECT g0."subject_name", COUNT(s0."subject_name") AS n FROM lake."mice"."subject" AS g0 INNER JOIN lake."mice_computed"."decision_task" AS s0 ON g0."subject_name" = s0."subject_name" GROUP BY g0."subject_name"
-- params: {}
