"""Operations on tables and queries: fetch, insert, delete, and creating the schemas."""
