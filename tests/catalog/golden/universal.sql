SELECT DISTINCT t0."subject_name" FROM lake."mice"."session" AS t0
-- params: {}
