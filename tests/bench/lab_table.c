/*
 * lab_table.c - the policy lab's table of policies.
 */
#include <string.h>

#include "lab.h"

const struct lab_policy *const lab_policies[] = {
	&lab_min, &lab_lru, &lab_clock, &lab_stage, &lab_shadow, &lab_clockpro,
	&lab_arc, &lab_arcw, &lab_arcwr, &lab_freq, NULL,
};

const struct lab_policy *lab_policy_find(const char *name)
{
	unsigned i;

	for (i = 0; lab_policies[i]; i++)
		if (!strcmp(lab_policies[i]->name, name))
			return lab_policies[i];
	return NULL;
}
