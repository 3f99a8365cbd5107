/* modules.c — THE module table.  Adding a module: define `const kiln_module
 * module_<name>` in stages/<name>.c, add it below in the order it should
 * run within its stage, and give it tests. */
#include "datasource.h"
#include "json-util.h"
#include "modules.h"

extern const kiln_module module_bootcmd;
extern const kiln_module module_consul;
extern const kiln_module module_consul_agent;
extern const kiln_module module_consul_deregister;
extern const kiln_module module_hostname;
extern const kiln_module module_volumes;
extern const kiln_module module_fs_setup;
extern const kiln_module module_mounts;
extern const kiln_module module_runcmd;
extern const kiln_module module_scripts_user;
extern const kiln_module module_ssh_keys;
extern const kiln_module module_write_files;
extern const kiln_module module_write_files_deferred;
extern const kiln_module module_templates;

static const kiln_module *const table[] = {
        /* network */
        &module_hostname, /* first: bootcmd and everything after see the final name (cloud-init sets it in init) */
        &module_bootcmd,
        &module_ssh_keys,
        /* data volumes after bootcmd (cloud-init's order: bootcmd, then disk
         * setup and mounts); kiln's own key first, then the cloud-config ones.
         * Last in the stage: they may wait for a late attachment. */
        &module_volumes,
        &module_fs_setup,
        &module_mounts,
        /* config */
        &module_write_files,
        &module_templates,
        &module_consul_agent, /* before consul.service starts (kiln-config is ordered before it) */
        /* final */
        &module_write_files_deferred, /* first in final, as cloud-init: before commands that may need the files */
        &module_consul, /* bounded by consul.register_timeout; runcmd and scripts (the user's) after it */
        &module_runcmd,
        &module_scripts_user, /* user-data scripts after runcmd */
        /* shutdown */
        &module_consul_deregister,
        NULL,
};

static const schema_key kiln_keys[] = {
        KEY_LIST("disable_modules", &(const schema_key) KEY(NULL, ST_STRING, NULL),
                 "Modules not to run on this image (names as in `kiln analyze`)."),
        KEY("command_timeout", ST_NUMBER, "Seconds a bootcmd/runcmd/script command may run (default 600)."),
        {},
};

static const schema_key any_value = { .types = ST_ANY };

const kiln_module *const *modules_all(void) {
        return table;
}

const kiln_module *modules_find(const char *name) {
        for (const kiln_module *const *m = table; *m; m++)
                if (streq((*m)->name, name))
                        return *m;
        return NULL;
}

static size_t count_keys(const schema_key *k) {
        size_t n = 0;
        while (k && k[n].name)
                n++;
        return n;
}

const schema_key *modules_schema(void) {
        static schema_key *all;
        size_t n = 0, k = 0;

        if (all)
                return all;
        for (const kiln_module *const *m = table; *m; m++)
                n += count_keys((*m)->keys);
        all = calloc(n + 8, sizeof(schema_key));
        if (!all)
                abort(); /* at start-up, before anything ran: nothing to lose */
        all[k++] = (schema_key) KEY_OBJ("datasource", datasource_schema(),
                                        "Where metadata and user-data come from (image config only).");
        all[k++] = (schema_key) KEY_OBJ("kiln", kiln_keys, "Agent settings.");
        all[k++] = (schema_key) KEY_MAP("vars", &any_value,
                                        "User variables for templates (vars.*); public in instance-data.json.");
        all[k++] = (schema_key){ .name = "secret_vars", .types = ST_OBJECT, .values = &any_value, .secret = true,
                                 .description = "Like vars, but only root can read them (secret_vars.*)." };
        all[k++] = (schema_key) KEY("merge_how", ST_STRING | ST_ARRAY, "How this user-data part merges (cloud-init).");
        all[k++] = (schema_key) KEY("merge_type", ST_STRING | ST_ARRAY, "Alias of merge_how.");
        for (const kiln_module *const *m = table; *m; m++)
                for (const schema_key *key = (*m)->keys; key && key->name; key++)
                        all[k++] = *key;
        return all;
}

bool modules_disabled_by_config(json_t *config, const char *name) {
        json_t *list = json_get_path(config, "kiln.disable_modules"), *v;
        size_t i;
        json_array_foreach(list, i, v)
                if (json_is_string(v) && streq(json_string_value(v), name))
                        return true;
        return false;
}
