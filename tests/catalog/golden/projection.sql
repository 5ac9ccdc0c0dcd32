SELECT t0."subject_name", t0."session_name", t0."session_datetime", t0."experimenter" AS who, YEAR(CAST(t0."session_datetime" AS DATE)) AS year FROM lake."mice"."session" AS t0
-- params: {}
