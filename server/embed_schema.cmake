# Writes a schema file into a C++ header as a raw string literal named SCHEMA_NAME, so the server binary carries
# its schemas (schema.sql for SQLite, schema_postgresql.sql for PostgreSQL).
file(READ ${SCHEMA_FILE} SCHEMA_TEXT)
file(WRITE ${OUTPUT_FILE}.tmp
  "// Generated from ${SCHEMA_FILE} at build time. Do not edit.\n#pragma once\nnamespace tscale {\ninline constexpr const char* ${SCHEMA_NAME} = R\"tscale_schema(${SCHEMA_TEXT})tscale_schema\";\n}\n")
file(COPY_FILE ${OUTPUT_FILE}.tmp ${OUTPUT_FILE} ONLY_IF_DIFFERENT)
