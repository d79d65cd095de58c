#ifndef SYNCD_SQLITE_SWITCHES_H
#define SYNCD_SQLITE_SWITCHES_H

/// Turns the triggers of one connection on or off
/// (sqlite3_db_config(SQLITE_DBCONFIG_ENABLE_TRIGGER), a variadic function
/// that Swift cannot call). `connection` is a `sqlite3 *`.
/// Returns SQLite's result code; `*now_enabled` receives the setting after the call.
int syncd_sqlite_enable_triggers(void *connection, int enabled, int *now_enabled);

#endif
