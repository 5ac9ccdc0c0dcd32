SELECT t0."subject_name", t0."session_name", t0."session_datetime", t0."experimenter" FROM lake."mice"."session" AS t0 SEMI JOIN (SELECT t1."subject_name", t1."session_name" FROM lake."mice"."dataset" AS t1 WHERE t1."subject_name" = $p1 AND t1."dataset_name" ILIKE '%ephys%') AS s0_0 ON t0."subject_name" = s0_0."subject_name" AND t0."session_name" = s0_0."session_name"
-- params: {'p1': 'JC178'}
