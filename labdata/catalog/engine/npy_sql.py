"""DuckDB macros that decode labdata's blob values (``.npy`` bytes) into DuckDB lists, in SQL alone.

A ``blob``/``longblob`` value holds a numpy array as ``.npy`` bytes, a JSON value as
``JSON\\0`` + text, or (large arrays) a ``ZREF\\0`` reference into a Zarr store (see
:mod:`labdata.catalog.ops.blobs`). ``blob_list(b)`` returns a ``DOUBLE[]`` for 1-D little-endian
arrays of (u)int8..64, bool, float32 and float64 and for JSON lists of numbers, and NULL
otherwise (n-D, Fortran order, float16, strings, references). ``npy_dtype(b)`` and
``npy_shape(b)`` tell what an array is. The macros are stored in the views file
(:mod:`labdata.catalog.engine.views`), so any DuckDB client uses them.
"""

__all__ = ["MACROS"]

MACROS = r"""
CREATE OR REPLACE MACRO main.npy_header_length(b) AS ('0x' || substr(hex(b), 19, 2) || substr(hex(b), 17, 2))::INTEGER;
CREATE OR REPLACE MACRO main.npy_header(b) AS
  CASE WHEN substr(hex(b), 1, 12) = '934E554D5059' AND substr(hex(b), 13, 2) = '01'
       THEN decode(unhex(substr(hex(b), 21, 2 * npy_header_length(b)))) END;
CREATE OR REPLACE MACRO main.npy_dtype(b) AS regexp_extract(npy_header(b), '''descr'': *''([<>|=]?[a-z][0-9]+)''', 1);
CREATE OR REPLACE MACRO main.npy_shape(b) AS
  list_transform(list_filter(string_split(regexp_extract(npy_header(b), '''shape'': *\(([0-9, ]*)\)', 1), ','),
                 s -> trim(s) <> ''), s -> trim(s)::BIGINT);
CREATE OR REPLACE MACRO main.npy_uint_le(h) AS
  ('0x' || array_to_string(list_transform(range(length(h) // 2, 0, -1), j -> substr(h, 2 * j - 1, 2)), ''))::UBIGINT;
CREATE OR REPLACE MACRO main.npy_value(code, u) AS
  CASE code
    WHEN 'u' THEN u::DOUBLE
    WHEN 'b' THEN u::DOUBLE
    WHEN 'i1' THEN (u::HUGEINT - CASE WHEN u >= 128 THEN 256 ELSE 0 END)::DOUBLE
    WHEN 'i2' THEN (u::HUGEINT - CASE WHEN u >= 32768 THEN 65536 ELSE 0 END)::DOUBLE
    WHEN 'i4' THEN (u::HUGEINT - CASE WHEN u >= 2147483648 THEN 4294967296 ELSE 0 END)::DOUBLE
    WHEN 'i8' THEN (u::HUGEINT - CASE WHEN u >= 9223372036854775808 THEN 18446744073709551616::HUGEINT ELSE 0 END)::DOUBLE
    WHEN 'f4' THEN CASE WHEN (u >> 23) & 255 = 255 THEN CASE WHEN u & 8388607 = 0 THEN (CASE WHEN u >> 31 = 1 THEN -1 ELSE 1 END) * 'inf'::DOUBLE ELSE 'nan'::DOUBLE END
                        ELSE (CASE WHEN u >> 31 = 1 THEN -1 ELSE 1 END) *
                             CASE WHEN (u >> 23) & 255 = 0 THEN (u & 8388607)::DOUBLE * pow(2, -149)
                                  ELSE (1 + (u & 8388607)::DOUBLE / 8388608) * pow(2, ((u >> 23) & 255)::INTEGER - 127) END END
    WHEN 'f8' THEN CASE WHEN (u >> 52) & 2047 = 2047 THEN CASE WHEN u & 4503599627370495 = 0 THEN (CASE WHEN u >> 63 = 1 THEN -1 ELSE 1 END) * 'inf'::DOUBLE ELSE 'nan'::DOUBLE END
                        ELSE (CASE WHEN u >> 63 = 1 THEN -1 ELSE 1 END) *
                             CASE WHEN (u >> 52) & 2047 = 0 THEN (u & 4503599627370495)::DOUBLE * pow(2, -1074)
                                  ELSE (1 + (u & 4503599627370495)::DOUBLE / 4503599627370496) * pow(2, ((u >> 52) & 2047)::INTEGER - 1023) END END
  END;
CREATE OR REPLACE MACRO main.npy_list(b) AS (
  WITH h AS (SELECT npy_header(b) AS header, npy_dtype(b) AS dtype, npy_shape(b) AS shape),
       d AS (SELECT header, dtype, shape, substr(dtype, 3)::INTEGER AS size,
                    CASE WHEN substr(dtype, 2, 1) IN ('i', 'f') THEN substr(dtype, 2) ELSE substr(dtype, 2, 1) END AS code,
                    substr(hex(b), 2 * (10 + npy_header_length(b)) + 1) AS data
             FROM h WHERE len(shape) = 1 AND header NOT LIKE '%''fortran_order'': True%'
                    AND (dtype IN ('|u1', '|i1', '|b1', '<f4', '<f8') OR dtype SIMILAR TO '<[ui][248]'))
  SELECT list_transform(regexp_extract_all(data, repeat('.', 2 * size)), h -> npy_value(code, npy_uint_le(h)))
  FROM d);
CREATE OR REPLACE MACRO main.blob_list(b) AS
  CASE WHEN substr(hex(b), 1, 10) = '4A534F4E00'
       THEN TRY_CAST(decode(unhex(substr(hex(b), 11))) AS DOUBLE[]) ELSE npy_list(b) END;
"""  # noqa: E501 - the float decoding reads best one case a line
