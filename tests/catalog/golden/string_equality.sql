SELECT t0."subject_name", t0."session_name", t0."session_datetime", t0."experimenter" FROM lake."mice"."session" AS t0 WHERE t0."subject_name" = 'JC178'
-- params: {}
