/*
 * route_table.h - the immutable routing snapshot: rules in evaluation order,
 * target groups with their resolved targets and balancing schedules, and the
 * HTTP limits of the configuration that produced it.
 *
 * A table is built once (route_table_build), never modified, shared by every
 * worker, and freed when its last reference goes (route_table_unref).
 */
#ifndef ORCH_LB_ROUTE_TABLE_H
#define ORCH_LB_ROUTE_TABLE_H

#include "lb-t.h"

/*
 * Build a table that takes ownership of config (freed with the table, or on
 * failure).  Targets are acquired from lb's registry, which the caller has
 * locked.  The table starts with one reference.
 */
struct lb_route_table *route_table_build(struct lb *lb, struct lb_config *config, orch_error *err);

void route_table_ref(struct lb_route_table *table);
void route_table_unref(struct lb_route_table *table);

/*
 * The target group for a request, or NULL (404).  host is lower case without
 * port; path is the request path (query included; only its prefix matters).
 */
struct lb_group *route_table_match(struct lb_route_table *table, const char *host, size_t host_len,
				   const char *path, size_t path_len);

#endif
