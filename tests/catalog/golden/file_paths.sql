SELECT t0."file_path", t0."storage", t0."file_datetime", t0."file_size", t0."file_md5" FROM lake."lab"."file" AS t0 SEMI JOIN (SELECT t1."file_path", t1."storage" FROM lake."mice"."dataset__data_files" AS t1 WHERE t1."subject_name" = $p1 AND t1."file_path" ILIKE '%_trials.csv') AS s0_0 ON t0."file_path" = s0_0."file_path" AND t0."storage" = s0_0."storage"
-- params: {'p1': 'JC178'}
