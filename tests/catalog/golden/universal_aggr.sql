SELECT s0."session_name", COUNT(*) AS n FROM lake."mice"."session" AS s0 GROUP BY s0."session_name"
-- params: {}
