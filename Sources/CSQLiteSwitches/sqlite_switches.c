#include <sqlite3.h>
#include "sqlite_switches.h"

int syncd_sqlite_enable_triggers(void *connection, int enabled, int *now_enabled) {
    return sqlite3_db_config((sqlite3 *)connection, SQLITE_DBCONFIG_ENABLE_TRIGGER, enabled, now_enabled);
}
