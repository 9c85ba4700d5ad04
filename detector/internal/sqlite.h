// Thin RAII wrappers over the SQLite C API for the ledger: a connection and a
// prepared statement whose errors come back as absl::Status. Thread-compatible:
// one thread (or one lock holder) uses a connection at a time.
#ifndef KLAXON_DETECTOR_INTERNAL_SQLITE_H_
#define KLAXON_DETECTOR_INTERNAL_SQLITE_H_

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace klaxon::internal {

class SqliteStatement;

class SqliteDb {
 public:
  static absl::StatusOr<SqliteDb> Open(const std::string& path);
  SqliteDb(SqliteDb&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  SqliteDb& operator=(SqliteDb&& other) noexcept;
  // Non-copyable: owns the connection.
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  ~SqliteDb();

  absl::Status Exec(absl::string_view sql);
  absl::StatusOr<SqliteStatement> Prepare(absl::string_view sql);
  int64_t LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int64_t Changes() const { return sqlite3_changes(db_); }
  absl::Status Error(absl::string_view what) const;

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

class SqliteStatement {
 public:
  SqliteStatement(SqliteStatement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) {
    other.stmt_ = nullptr;
  }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  ~SqliteStatement();

  // Bind by 1-based index. Chainable.
  SqliteStatement& Bind(int index, int64_t value);
  SqliteStatement& Bind(int index, double value);
  SqliteStatement& Bind(int index, absl::string_view value);
  SqliteStatement& Bind(int index, const std::string& value) {
    return Bind(index, absl::string_view(value));
  }
  SqliteStatement& Bind(int index, const char* value) { return Bind(index, absl::string_view(value)); }
  SqliteStatement& Bind(int index, std::optional<int64_t> value);

  // true while there is a row to read; false when done.
  absl::StatusOr<bool> Step();
  // Runs to completion, for statements without rows.
  absl::Status Run();

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  double Double(int column) const { return sqlite3_column_double(stmt_, column); }
  bool IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string Text(int column) const;

 private:
  friend class SqliteDb;
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_error_ = SQLITE_OK;
};

}  // namespace klaxon::internal

#endif  // KLAXON_DETECTOR_INTERNAL_SQLITE_H_
