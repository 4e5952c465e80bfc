-- cloudscheduler v2's configuration tables (stable-2.11), written from ../shared/reference/csv2.md
-- sections 2.1-2.8 with the defaults of its schema dump: the part of a csv2 database the importer reads.

CREATE TABLE csv2_groups (
  group_name varchar(32) NOT NULL,
  htcondor_fqdn varchar(128) DEFAULT NULL,
  htcondor_host_id bigint(20) DEFAULT 0,
  htcondor_gsi_dn varchar(128) DEFAULT NULL,
  htcondor_gsi_eol int(11) DEFAULT 0,
  htcondor_container_hostname varchar(128) DEFAULT NULL,
  htcondor_other_submitters varchar(128) DEFAULT NULL,
  job_cpus int(11) DEFAULT 1,
  job_ram int(11) DEFAULT 1000,
  job_disk int(11) DEFAULT 5,
  job_scratch int(11) DEFAULT 0,
  job_swap int(11) DEFAULT 0,
  vm_flavor varchar(64) DEFAULT '',
  vm_image varchar(64) DEFAULT '',
  vm_keep_alive int(11) DEFAULT 300,
  vm_keyname varchar(64) DEFAULT NULL,
  vm_network varchar(64) DEFAULT '',
  vm_security_groups varchar(128) DEFAULT NULL,
  public_visibility tinyint(1) DEFAULT 0,
  PRIMARY KEY (group_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE csv2_clouds (
  group_name varchar(32) NOT NULL,
  cloud_name varchar(32) NOT NULL,
  enabled tinyint(1) DEFAULT 1,
  priority int(11) DEFAULT 0,
  authurl varchar(128) NOT NULL,
  project varchar(128) NOT NULL,
  username varchar(32) NOT NULL,
  password text NOT NULL,
  userid varchar(64) DEFAULT NULL,
  obsolete_keyname varchar(20) DEFAULT NULL,
  cacertificate text DEFAULT NULL,
  region varchar(32) NOT NULL,
  user_domain_name varchar(20) DEFAULT 'Default',
  user_domain_id varchar(64) DEFAULT NULL,
  project_domain_name varchar(20) DEFAULT 'Default',
  project_domain_id varchar(64) DEFAULT NULL,
  cloud_type varchar(64) NOT NULL,
  ec2_owner_id varchar(32) DEFAULT NULL,
  auth_type varchar(32) DEFAULT 'userpass',
  app_credentials varchar(128) DEFAULT NULL,
  app_credentials_secret varchar(128) DEFAULT NULL,
  app_credentials_expiry int(11) DEFAULT NULL,
  communication_up tinyint(1) DEFAULT 0,
  communication_rt int(11) DEFAULT 0,
  server_meta_ctl int(11) DEFAULT NULL,
  instances_ctl int(11) DEFAULT NULL,
  personality_ctl int(11) DEFAULT NULL,
  image_meta_ctl int(11) DEFAULT NULL,
  personality_size_ctl int(11) DEFAULT NULL,
  server_groups_ctl int(11) DEFAULT NULL,
  security_group_rules_ctl int(11) DEFAULT NULL,
  keypairs_ctl int(11) DEFAULT NULL,
  security_groups_ctl int(11) DEFAULT NULL,
  server_group_members_ctl int(11) DEFAULT NULL,
  floating_ips_ctl int(11) DEFAULT NULL,
  cores_ctl int(11) DEFAULT -1,
  cores_softmax int(11) DEFAULT -1,
  ram_ctl int(11) DEFAULT -1,
  spot_price float DEFAULT -1,
  vm_boot_volume varchar(64) DEFAULT NULL,
  vm_flavor varchar(64) DEFAULT '',
  vm_image varchar(64) DEFAULT '',
  vm_keep_alive int(11) DEFAULT -1,
  vm_keyname varchar(64) DEFAULT NULL,
  vm_network varchar(64) DEFAULT '',
  vm_security_groups varchar(128) DEFAULT '',
  error_count int(11) DEFAULT NULL,
  error_time int(11) DEFAULT NULL,
  machine_subprocess_pid int(11) DEFAULT -1,
  freeze tinyint(1) DEFAULT 0,
  PRIMARY KEY (group_name, cloud_name),
  CONSTRAINT csv2_clouds_ibfk_1 FOREIGN KEY (group_name) REFERENCES csv2_groups (group_name) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE csv2_cloud_aliases (
  group_name varchar(32) NOT NULL,
  cloud_name varchar(32) NOT NULL,
  alias_name varchar(32) NOT NULL,
  PRIMARY KEY (group_name, cloud_name, alias_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE csv2_cloud_flavor_exclusions (
  group_name varchar(32) NOT NULL,
  cloud_name varchar(32) NOT NULL,
  flavor_name varchar(128) NOT NULL,
  PRIMARY KEY (group_name, cloud_name, flavor_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE csv2_mime_types (
  mime_type varchar(32) NOT NULL,
  PRIMARY KEY (mime_type)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
INSERT INTO csv2_mime_types VALUES ('cloud-config'), ('ucernvm-config');

CREATE TABLE csv2_group_metadata (
  group_name varchar(32) NOT NULL,
  metadata_name varchar(64) NOT NULL,
  enabled tinyint(1) DEFAULT 1,
  priority int(11) DEFAULT 0,
  metadata text NOT NULL,
  mime_type varchar(128) NOT NULL DEFAULT 'cloud-config',
  checksum varchar(64) DEFAULT NULL,
  PRIMARY KEY (group_name, metadata_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE csv2_cloud_metadata (
  group_name varchar(32) NOT NULL,
  cloud_name varchar(32) NOT NULL,
  metadata_name varchar(64) NOT NULL,
  enabled tinyint(1) DEFAULT 1,
  priority int(11) DEFAULT 0,
  metadata text NOT NULL,
  mime_type varchar(128) NOT NULL DEFAULT 'cloud-config',
  checksum varchar(64) DEFAULT NULL,
  PRIMARY KEY (group_name, cloud_name, metadata_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE csv2_group_metadata_exclusions (
  group_name varchar(32) NOT NULL,
  metadata_name varchar(64) NOT NULL,
  cloud_name varchar(32) NOT NULL,
  PRIMARY KEY (group_name, metadata_name, cloud_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE csv2_user (
  username varchar(32) NOT NULL,
  cert_cn varchar(128) DEFAULT NULL,
  password varchar(128) NOT NULL,
  is_superuser tinyint(1) DEFAULT 0,
  join_date int(11) DEFAULT 0,
  default_group varchar(32) DEFAULT NULL,
  flag_global_status tinyint(1) DEFAULT 0,
  flag_jobs_by_target_alias tinyint(1) DEFAULT 0,
  flag_show_foreign_global_vms tinyint(1) DEFAULT 0,
  flag_show_slot_detail tinyint(1) DEFAULT 1,
  flag_show_slot_flavors tinyint(1) DEFAULT 1,
  status_refresh_interval int(11) DEFAULT 30,
  PRIMARY KEY (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE csv2_user_groups (
  username varchar(32) NOT NULL,
  group_name varchar(32) NOT NULL,
  PRIMARY KEY (username, group_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE csv2_configuration (
  category varchar(32) NOT NULL,
  config_key varchar(64) NOT NULL,
  config_type varchar(16) NOT NULL,
  config_value varchar(128) DEFAULT NULL,
  PRIMARY KEY (category, config_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE csv2_vms (
  group_name varchar(32) NOT NULL,
  cloud_name varchar(32) NOT NULL,
  target_alias varchar(32) DEFAULT NULL,
  region varchar(32) DEFAULT NULL,
  vmid varchar(128) NOT NULL,
  spot_instance tinyint(1) DEFAULT 0,
  instance_id varchar(64) DEFAULT NULL,
  cloud_type varchar(64) DEFAULT NULL,
  vm_ips varchar(128) DEFAULT NULL,
  vm_floating_ips varchar(128) DEFAULT NULL,
  auth_url varchar(128) NOT NULL,
  project varchar(128) NOT NULL,
  hostname varchar(128) NOT NULL,
  keep_alive int(11) DEFAULT 0,
  start_time int(11) DEFAULT 0,
  status varchar(32) DEFAULT NULL,
  flavor_id varchar(128) DEFAULT NULL,
  image_id varchar(128) DEFAULT NULL,
  task varchar(32) DEFAULT NULL,
  power_status int(11) DEFAULT NULL,
  manual_control tinyint(1) DEFAULT 0,
  retire int(11) DEFAULT 0,
  terminate int(11) DEFAULT 0,
  PRIMARY KEY (group_name, cloud_name, vmid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
