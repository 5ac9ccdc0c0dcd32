SELECT t0."subject_name", t0."session_name", t0."session_datetime", t0."experimenter" FROM lake."mice"."session" AS t0 WHERE t0."subject_name" = $p1 AND NOT t0."session_name" = $p2
-- params: {'p1': 'JC178', 'p2': 's1'}
