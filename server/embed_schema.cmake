# Writes schema.sql into a C++ header as a raw string literal, so the server binary carries its schema.
file(READ ${SCHEMA_FILE} SCHEMA_TEXT)
file(WRITE ${OUTPUT_FILE}.tmp
  "// Generated from schema.sql at build time. Do not edit.\n#pragma once\nnamespace tscale {\ninline constexpr const char* kSchemaSql = R\"tscale_schema(${SCHEMA_TEXT})tscale_schema\";\n}\n")
file(COPY_FILE ${OUTPUT_FILE}.tmp ${OUTPUT_FILE} ONLY_IF_DIFFERENT)
