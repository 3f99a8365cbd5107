/* datasource.c — the datasource table and the `datasource:` schema. */
#include "datasource.h"
#include "json-util.h"
#include "macro.h"

static const datasource *const datasources[] = {
        &datasource_ec2,
        &datasource_seed,
};

void ds_result_clear(ds_result *r) {
        json_decref(r->meta_data);
        json_decref(r->dynamic);
        json_decref(r->stats);
        free(r->user_data);
        free(r->description);
        *r = (ds_result){ 0 };
}

const datasource *datasource_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(datasources); i++)
                if (streq(datasources[i]->name, name))
                        return datasources[i];
        return NULL;
}

const datasource *datasource_from_config(json_t *config) {
        return datasource_find(json_get_string(json_object_get(config, "datasource"), "name", "ec2"));
}

static const char *const names[] = { "ec2", "seed", NULL };

const schema_key *datasource_schema(void) {
        static schema_key keys[ELEMENTSOF(datasources) + 2];
        if (!keys[0].name) {
                keys[0] = (schema_key) KEY_ENUM("name", names, "Which datasource the image uses (default ec2).");
                for (size_t i = 0; i < ELEMENTSOF(datasources); i++)
                        keys[i + 1] = (schema_key) KEY_OBJ(datasources[i]->name, datasources[i]->keys,
                                                           "Settings of this datasource.");
        }
        return keys;
}
